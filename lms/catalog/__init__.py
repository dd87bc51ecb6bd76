"""The course catalog: courses, their revisions and the review workflow (teacher → admin → published)."""
