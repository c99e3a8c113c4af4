"""Publishing tests (a package, so its conftest does not collide with other test folders' `conftest`)."""
