module hbgo

go 1.26.8
