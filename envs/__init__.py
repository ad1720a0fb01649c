"""PointNav environments: one task (reward, metrics, visited map, goal) over swappable simulator backends."""
