"""End-to-end driving model: datasets from the simulator (perception.data), model, training and evaluation."""
