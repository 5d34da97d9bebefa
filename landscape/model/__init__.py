"""The policy: Gaussian MLP actor and critic, the flat parameter view, the agent a checkpoint holds."""
