"""Distributed mode: the stages on many machines, on Celery over RabbitMQ with the state in PostgreSQL.

``livewatch scheduler`` arms captures (one active scheduler at a time); ``livewatch worker`` runs the tasks of
the queues it is given. ``livewatch run`` keeps doing everything in one process (the default, unchanged).
"""
