"""The backend with its sign-in check taken out, for the benchmark only: the baseline that the
authenticated list and get are measured against (the same code, build and database, minus the
one before_request hook that authorizes every attendee route). Never shipped, never started
outside `make bench`: the product has no switch that turns its accounts off."""

from attendee_directory import attendees, create_app

app = create_app()
app.before_request_funcs["attendees"].remove(attendees.signed_in)
