"""What every product shares on the wire: the v4 envelope, errors, auth, body parsing."""
