"""`loomsight demo`: the whole loop on one box: the API on SQLite, machines with cameras, one
inspection agent per machine on the synthetic moving web, progress, and a summary against the
web's ground truth."""
