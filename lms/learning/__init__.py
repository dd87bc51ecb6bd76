"""Learning hours: playback sessions, heartbeats, lesson progress and the 学时 ledger."""
