"""Back office part: log (pages added by its engineer)."""
