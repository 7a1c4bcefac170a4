package liveview

// DashboardAt serves the page for the browser tests (package liveview_test).
var DashboardAt = dashboardAt
