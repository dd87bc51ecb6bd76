"""学时审核: offline training claims (线下学时登记) reviewed up the org tree, and admins' inspection of online
credits with their evidence."""
