"""The static HTML report: data gathered from the store, pages planned, templates rendered."""
