"""The only package that knows SQLite (and, when scaled out, PostgreSQL/Redis). Products talk to the
small store interfaces they declare; the implementations live here."""
