"""The staff admin area (/admin): deny by default, each view declares its permission."""
