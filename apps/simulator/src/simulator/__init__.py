"""IoT temperature sensor simulator: JSON readings into Kafka, with injected anomalies."""
