"""Platform wire models, code tables, validation and mapping to internal rows.

The path of a record through this package::

    wire.Transaction  --validate.validate-->  records.BusinessRecord | list[Problem]

One module per business type lives in ``mapping/businesses/``: a sixth business type
adds a module there and registers it in ``mapping/businesses/__init__.py``.
"""
