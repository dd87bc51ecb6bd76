"""培训档案: each cadre's training archive over the years (credits, tests, certificates), as a page,
a PDF and an .xlsx."""
