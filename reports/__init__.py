"""Reports for auditors and county staff: what has not made it across, and why."""
