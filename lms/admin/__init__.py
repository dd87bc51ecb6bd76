"""Administration screens: units, users, bulk import, audit log. Each admin sees their own subtrees."""
