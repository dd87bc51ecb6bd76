"""Web pages for teachers and admins: writing courses, reviewing them, and managing subcategories."""
