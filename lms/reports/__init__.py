"""Reports on units for administrators: participation, hours per cadre, attainment, content mix."""
