"""Back office part: records (pages added by its engineer)."""
