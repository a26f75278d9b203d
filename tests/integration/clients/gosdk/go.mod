module dbjobs.local/gosdkdriver

go 1.23

require github.com/databricks/databricks-sdk-go v0.80.0
