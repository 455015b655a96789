"""Event types, their Avro codec, the routing table and the Log port."""
