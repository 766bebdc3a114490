"""Reference runs in the libraries the field trusts, used to cross-check our numbers."""
