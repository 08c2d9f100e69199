"""The MongoDB collections the application uses, named once for every module that reads them."""

ATTENDEES = "attendees"
REPLICAS = "replicas"
META = "meta"
