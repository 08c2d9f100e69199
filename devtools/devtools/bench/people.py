"""Deterministic, realistic Vietnamese attendees for the growth benchmark, bulk-inserted.

The same seed gives the same attendees on every run and every machine: names drawn with the
approximate frequencies of Vietnamese family names, real universities and majors, unique emails.
Documents have the shape that the API stores (documents.new_attendee), search key included.
"""

import random
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.collection import Collection

from attendee_directory.documents import new_attendee

SEED = 2023
BATCH = 1000  # documents per insert_many: large enough to amortize a round trip
# Family names with their approximate share of the population, in percent.
FAMILY_NAMES = {
    "Nguyễn": 38.0, "Trần": 11.0, "Lê": 9.5, "Phạm": 7.1, "Hoàng": 5.1, "Huỳnh": 5.1,
    "Phan": 4.5, "Vũ": 3.9, "Võ": 3.9, "Đặng": 2.1, "Bùi": 2.0, "Đỗ": 1.4, "Hồ": 1.3,
    "Ngô": 1.3, "Dương": 1.0, "Lý": 0.5, "Đinh": 0.5, "Trịnh": 0.4, "Đoàn": 0.4,
    "Lương": 0.3, "Mai": 0.3, "Tô": 0.2, "Cao": 0.2, "Quách": 0.1, "Khổng": 0.05,
}  # fmt: skip
MIDDLE_NAMES = {
    "female": ["Thị", "Ngọc", "Thu", "Thanh", "Minh", "Bảo", "Khánh", "Phương", "Diệu", "Hải"],
    "male": ["Văn", "Đức", "Minh", "Quốc", "Hữu", "Thành", "Gia", "Công", "Trung", "Xuân"],
}
GIVEN_NAMES = {
    "female": ["Anh", "Linh", "Trang", "Hương", "Ngọc", "Hà", "Thảo", "Mai", "Lan", "Huyền",
               "Vy", "Nhung", "Giang", "Yến", "Trâm", "Quỳnh", "Hằng", "Oanh", "Thư", "Uyên"],
    "male": ["Anh", "Minh", "Hùng", "Dũng", "Tuấn", "Nam", "Long", "Hiếu", "Quang", "Huy",
             "Sơn", "Phúc", "Khoa", "Bảo", "Đạt", "Thắng", "Vinh", "Trí", "Khải", "Lâm"],
}  # fmt: skip
UNIVERSITIES = [
    "Đại học Bách khoa Hà Nội", "Đại học Quốc gia Hà Nội", "Đại học Công nghệ - ĐHQGHN",
    "Học viện Công nghệ Bưu chính Viễn thông", "Đại học Bách khoa - ĐHQG TP.HCM",
    "Đại học Khoa học Tự nhiên - ĐHQG TP.HCM", "Đại học Công nghệ Thông tin - ĐHQG TP.HCM",
    "Đại học Kinh tế Quốc dân", "Đại học FPT", "Đại học Bách khoa - Đại học Đà Nẵng",
    "Đại học Cần Thơ", "Học viện Kỹ thuật Quân sự", "Đại học Giao thông Vận tải",
    "Đại học Xây dựng Hà Nội", "Đại học Thủy lợi", "Đại học Sư phạm Hà Nội",
    "Đại học Tôn Đức Thắng", "Đại học Huế", "Đại học Thái Nguyên", "Đại học Vinh",
]  # fmt: skip
MAJORS = [
    "Khoa học Máy tính", "Kỹ thuật Phần mềm", "Công nghệ Thông tin", "Hệ thống Thông tin",
    "An toàn Thông tin", "Kỹ thuật Máy tính", "Khoa học Dữ liệu", "Trí tuệ Nhân tạo",
    "Điện tử Viễn thông", "Kỹ thuật Điều khiển và Tự động hóa", "Toán Tin", "Mạng Máy tính",
    "Kinh tế Số", "Hệ thống Nhúng", "Kỹ thuật Điện",
]  # fmt: skip
GENDERS = (("female", 47), ("male", 51), ("other", 2))
FIRST_CREATED = datetime(2023, 3, 1, tzinfo=UTC)


def ascii_word(text: str) -> str:
    """TEXT without diacritics, lower case, no spaces: for email addresses."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def attendees(count: int, seed: int = SEED) -> Iterator[dict]:
    """COUNT attendee documents, the same ones for the same SEED."""
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not secrets)
    families, weights = list(FAMILY_NAMES), list(FAMILY_NAMES.values())
    genders = [gender for gender, _ in GENDERS]
    gender_weights = [weight for _, weight in GENDERS]
    for number in range(count):
        gender = rng.choices(genders, gender_weights)[0]
        names_of = "female" if gender == "other" and rng.random() < 0.5 else gender
        names_of = "male" if names_of == "other" else names_of
        family = rng.choices(families, weights)[0]
        given = rng.choice(GIVEN_NAMES[names_of])
        full_name = f"{family} {rng.choice(MIDDLE_NAMES[names_of])} {given}"
        # The running number makes the email unique however often a name repeats.
        email = f"{ascii_word(given)}.{ascii_word(family)}{number}@students.example.edu.vn"
        fields = {
            "full_name": full_name,
            "email": email,
            "year_of_birth": rng.randint(1995, 2005),
            "gender": gender,
            "university": rng.choice(UNIVERSITIES),
            "major": rng.choice(MAJORS),
        }
        created = FIRST_CREATED + timedelta(seconds=number * 37)
        # The id encodes the creation time, as an id minted at that moment would.
        oid = ObjectId.from_datetime(created)
        oid = ObjectId(oid.binary[:4] + number.to_bytes(8, "big"))
        yield {"_id": oid, **new_attendee(fields, created)}


def bulk_insert(collection: Collection, count: int, seed: int = SEED) -> int:
    """Insert COUNT generated attendees in batches of BATCH; return how many were inserted."""
    inserted, batch = 0, []
    for doc in attendees(count, seed):
        batch.append(doc)
        if len(batch) == BATCH:
            inserted += len(collection.insert_many(batch, ordered=False).inserted_ids)
            batch = []
    if batch:
        inserted += len(collection.insert_many(batch, ordered=False).inserted_ids)
    return inserted
