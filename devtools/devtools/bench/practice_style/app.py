"""VDT 2023 practice: the attendee API as the course's first version, one file, Flask dev server.

Kept only as the "before" picture for bench/ (the comparison baseline); see README.md.
"""

import os
import socket
from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId
from flask import Flask, jsonify, request
from pymongo import MongoClient

app = Flask(__name__)
client = MongoClient(os.environ.get("MONGO_URI", "mongodb://mongo:27017/"))
db = client[os.environ.get("MONGO_DB", "vdt2023")]

FIELDS = ["full_name", "email", "year_of_birth", "gender", "university", "major"]


def serialize(doc):
    """Turn a MongoDB document into JSON: the ObjectId becomes a string id."""
    doc["id"] = str(doc.pop("_id"))
    return doc


@app.route("/api/whoami")
def whoami():
    """Which container answered."""
    return jsonify(hostname=socket.gethostname())


@app.route("/api/attendees", methods=["GET"])
def list_attendees():
    """One page of attendees, sorted by name."""
    page = int(request.args.get("page", 1))
    per_page = int(request.args.get("per_page", 20))
    total = db.attendees.count_documents({})
    docs = db.attendees.find().sort("full_name", 1).skip((page - 1) * per_page).limit(per_page)
    return jsonify(
        items=[serialize(doc) for doc in docs], total=total, page=page, per_page=per_page
    )


@app.route("/api/attendees/<attendee_id>", methods=["GET"])
def get_attendee(attendee_id):
    """One attendee by id."""
    try:
        doc = db.attendees.find_one({"_id": ObjectId(attendee_id)})
    except InvalidId:
        doc = None
    if doc is None:
        return jsonify(error="not found"), 404
    return jsonify(serialize(doc))


@app.route("/api/attendees", methods=["POST"])
def create_attendee():
    """Add an attendee."""
    data = request.get_json()
    for field in FIELDS:
        if field not in data:
            return jsonify(error=f"{field} is required"), 400
    doc = {field: data[field] for field in FIELDS}
    doc["created_at"] = doc["updated_at"] = datetime.now()
    db.attendees.insert_one(doc)
    return jsonify(serialize(doc)), 201


if __name__ == "__main__":
    # The practice's container listens on all interfaces; the benchmark sets HOST=127.0.0.1.
    host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104
    app.run(host=host, port=int(os.environ.get("PORT", "5000")))
