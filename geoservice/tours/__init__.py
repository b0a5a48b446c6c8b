"""Caravan tours: requests, the planner, the solver, saved plans and exports."""
