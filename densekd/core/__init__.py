"""The task-agnostic foundation shared by the three method wings."""
