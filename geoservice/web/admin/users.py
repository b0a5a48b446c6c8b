"""Back office part: users (pages added by its engineer)."""
