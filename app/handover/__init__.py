"""Hand-over export and import (N2): every registrant's data as one documented package."""
