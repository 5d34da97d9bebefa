"""Policy files: our checkpoint format, torch files read as data, imports (SA-PPO/CAR-PPO, ATLA/PA-AD,
SB3, CleanRL), file checks, the bundled checkpoints by name."""
