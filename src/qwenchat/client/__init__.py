"""The client library (retries, tool loop, history): not built yet."""
