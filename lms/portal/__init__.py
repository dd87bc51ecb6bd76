"""The learner's portal: the home page with their year at a glance."""
