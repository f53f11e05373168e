"""The four services. Each owns its state as a JetStream stream; none imports another."""
