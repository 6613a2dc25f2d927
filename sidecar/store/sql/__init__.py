"""The SQL layer every SQL backend shares: one store, its reads, writes, migrations and
version allocation, parametrised by a backend's dialect (see `dialect`).

A backend keeps only how it connects, its dialect (and how it marks its schema), its bulk
insert and its schema files.
"""
