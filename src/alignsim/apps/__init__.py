"""Entry points: the command line and the explore page. Nothing in alignsim imports this layer."""
