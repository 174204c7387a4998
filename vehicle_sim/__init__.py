"""vehicle_sim."""
