"""Demo data for a first look: a province with cities, counties, units, cadres, teachers and admins."""
