"""A small async task tracker: projects, tasks, and a service over AsyncSession."""
