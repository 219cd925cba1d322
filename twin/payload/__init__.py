"""The payload: accelerators, ground stations, where jobs come from, and the tick that
schedules jobs and delivers their results."""
