"""Back office part: files (pages added by its engineer)."""
