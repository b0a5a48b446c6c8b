"""Back office part: reports (pages added by its engineer)."""
