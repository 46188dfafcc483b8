"""The `themebt` command line: click commands that parse, call the library, and print. Nothing here computes."""
