"""The embedded backend: procedurally generated buildings, a batched ray-cast renderer and grid geometry."""
