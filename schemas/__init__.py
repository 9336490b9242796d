"""Schemas of the request files, the checks they use and the format catalogue."""
