from blinker import Namespace

_signals = Namespace()

# Sent (with the Course) inside the transaction whenever what the catalog shows may have changed:
# published, revised, archived. Higher layers (search sync) subscribe in create_app.
course_changed = _signals.signal("course-changed")
