"""`monitor demo`: the whole product offline, over sample feeds written for the project."""
