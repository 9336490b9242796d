"""The operations: each turns the staged request table into the ``answer`` table, in SQL."""
